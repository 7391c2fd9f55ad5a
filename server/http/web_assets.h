/* web_assets.h: the dashboard files compiled into the binary (generated into
 * web_assets.c by build-aux/embed-web.sh).  The table ends with a NULL path. */
#ifndef SL_WEB_ASSETS_H
#define SL_WEB_ASSETS_H

#include <stddef.h>

typedef struct sl_web_asset {
    const char *path; /* "/index.html" */
    const unsigned char *data;
    size_t size;
} sl_web_asset;

extern const sl_web_asset sl_web_assets[];

#endif
