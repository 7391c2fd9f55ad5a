// editor.js: the SQL editor: a plain <textarea> (so that it stays a native, accessible
// control) with line numbers beside it and, behind it, a mirror of its text in which the
// position of an error is marked. Lines and columns come from the server's error object
// and count from 1; a column counts characters (code points), as the server's lexer does.

export class SqlEditor {
  // textarea, mirror (a <pre> behind it), gutter (a <pre> of line numbers).
  constructor(textarea, mirror, gutter) {
    this.textarea = textarea;
    this.mirror = mirror;
    this.gutter = gutter;
    this.error = null; // {start, end} in UTF-16 offsets
    textarea.addEventListener("input", () => {
      this.clearError();
      this.renderGutter();
    });
    textarea.addEventListener("scroll", () => this.syncScroll());
    this.renderGutter();
    this.renderMirror();
  }

  get value() {
    return this.textarea.value;
  }

  set value(text) {
    this.textarea.value = text;
    this.clearError();
    this.renderGutter();
  }

  // The UTF-16 offset of (line, column), both from 1; clamped to the text.
  offsetOf(line, column) {
    const text = this.textarea.value;
    let offset = 0;
    for (let l = 1; l < line; l++) {
      const nl = text.indexOf("\n", offset);
      if (nl < 0) return text.length;
      offset = nl + 1;
    }
    let col = 1;
    while (col < column && offset < text.length && text[offset] !== "\n") {
      offset += text.codePointAt(offset) > 0xffff ? 2 : 1;
      col++;
    }
    return offset;
  }

  // Marks the token at (line, column): a word, a quoted string, or one character.
  markError(line, column) {
    const text = this.textarea.value;
    const start = this.offsetOf(line, column);
    let end = start;
    const quote = text[start];
    if (quote === "'" || quote === '"') {
      const close = text.indexOf(quote, start + 1);
      end = close < 0 ? text.length : close + 1;
    } else {
      while (end < text.length && /[\p{L}\p{N}_]/u.test(text[end])) end++;
      if (end === start && start < text.length && text[start] !== "\n") end = start + 1;
    }
    this.error = { start, end };
    this.textarea.setAttribute("aria-invalid", "true");
    this.renderMirror();
    return text.slice(start, end);
  }

  clearError() {
    if (!this.error) return;
    this.error = null;
    this.textarea.removeAttribute("aria-invalid");
    this.renderMirror();
  }

  // Puts the caret on the error (selecting its token) and the focus in the editor.
  focusError() {
    if (!this.error) return;
    this.textarea.focus();
    this.textarea.setSelectionRange(this.error.start, this.error.end);
  }

  renderMirror() {
    const text = this.textarea.value;
    if (!this.error) {
      this.mirror.replaceChildren();
      return;
    }
    const { start, end } = this.error;
    const mark = document.createElement("mark");
    // An error at the very end (an unfinished statement) still gets a visible mark.
    mark.textContent = end > start ? text.slice(start, end) : " ";
    this.mirror.replaceChildren(text.slice(0, start), mark, `${text.slice(end)}\n`);
    this.syncScroll();
  }

  renderGutter() {
    const lines = this.textarea.value.split("\n").length;
    if (this.gutter.dataset.lines === String(lines)) return;
    this.gutter.dataset.lines = String(lines);
    let s = "";
    for (let i = 1; i <= lines; i++) s += `${i}\n`;
    this.gutter.textContent = s;
    this.syncScroll();
  }

  syncScroll() {
    this.mirror.scrollTop = this.textarea.scrollTop;
    this.mirror.scrollLeft = this.textarea.scrollLeft;
    this.gutter.scrollTop = this.textarea.scrollTop;
  }
}
