#ifndef MEDSYNC_CLIBPQ_SHIM_H
#define MEDSYNC_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
