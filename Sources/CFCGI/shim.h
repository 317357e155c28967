#ifndef MEDSYNC_CFCGI_SHIM_H
#define MEDSYNC_CFCGI_SHIM_H
#include <fcgiapp.h>
#endif
