/* listener.h: the listening socket, and the polling threads it hands connections to.
 *
 * sluice accepts connections on a thread of its own and gives each one to the polling
 * thread (a libmicrohttpd daemon without a listening socket of its own) that serves the
 * fewest connections, so that a few busy keep-alive clients are spread over the threads
 * instead of going to whichever thread won the race for accept().  The listener also
 * owns --max-connections: at the limit it stops accepting, and a new client waits in
 * the kernel's listen queue until a connection closes. */
#ifndef SL_LISTENER_H
#define SL_LISTENER_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct sl_listener sl_listener;

/* Starts one polling thread: a libmicrohttpd daemon with MHD_USE_NO_LISTEN_SOCKET and an
 * internal polling thread, which must pass notify and notify_cls on as its
 * MHD_OPTION_NOTIFY_CONNECTION and allow at least --max-connections connections.
 * Returns the daemon (the listener stops it), or NULL with a message in msg. */
typedef struct MHD_Daemon *(*sl_listener_start_fn)(void *ctx, MHD_NotifyConnectionCallback notify,
                                                   void *notify_cls, char *msg, size_t msglen);

/* Listens on addr (port 0: an ephemeral one), starts `threads` polling threads with
 * start(ctx, ...) and the thread that accepts.  On failure returns -1 with a message in
 * msg and nothing left running.  *out is the caller's, to free with sl_listener_free. */
int sl_listener_start(const struct sockaddr *addr, unsigned threads, unsigned max_connections,
                      sl_listener_start_fn start, void *ctx, sl_listener **out, char *msg,
                      size_t msglen);

/* The port listened on. */
unsigned sl_listener_port(const sl_listener *l);

/* The number of polling threads. */
unsigned sl_listener_threads(const sl_listener *l);

/* Connections open now (accepted and not yet closed), all threads together; the share
 * of each of the first n threads goes to per_thread[] (may be NULL when n is 0). */
unsigned sl_listener_open(sl_listener *l, unsigned *per_thread, unsigned n);

/* True when conn (a connection of one of l's threads) is the only one its thread
 * serves now. */
bool sl_listener_alone(sl_listener *l, struct MHD_Connection *conn);

/* Stops accepting and closes the listening socket; open connections go on. */
void sl_listener_quiesce(sl_listener *l);

/* Stops accepting, then every polling thread (closing their connections), and frees l.
 * Accepts NULL. */
void sl_listener_free(sl_listener *l);

#endif
