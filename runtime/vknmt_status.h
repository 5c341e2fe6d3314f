/* The one status code of vknmt. Codes come in bands so a caller can test the
 * kind of failure (vknmt_status_band) as well as the exact cause. */
#ifndef VKNMT_STATUS_H
#define VKNMT_STATUS_H

typedef enum vknmt_status {
    VKNMT_OK = 0,

    /* 100s: the caller broke a contract */
    VKNMT_ERR_USAGE = 100,   /* bad argument or call order */
    VKNMT_ERR_SHAPE = 101,   /* tensor shapes do not fit together */
    VKNMT_ERR_RANGE = 102,   /* a region lies outside its buffer */
    VKNMT_ERR_LIMIT = 103,   /* over a device limit (e.g. maxStorageBufferRange) */

    /* 200s: bad input data */
    VKNMT_ERR_INPUT = 200,

    /* 300s: files */
    VKNMT_ERR_IO = 300,

    /* 400s: the device */
    VKNMT_ERR_DEVICE = 400,       /* any other Vulkan failure */
    VKNMT_ERR_NO_DEVICE = 401,    /* no Vulkan device, or none matches */
    VKNMT_ERR_DEVICE_LOST = 402,  /* VK_ERROR_DEVICE_LOST */
    VKNMT_ERR_UNSUPPORTED = 403,  /* the device lacks a needed feature */
    VKNMT_ERR_TIMEOUT = 404,      /* the device did not finish in time */

    /* 500s: memory */
    VKNMT_ERR_OOM_HOST = 500,
    VKNMT_ERR_OOM_DEVICE = 501,
} vknmt_status;

#include <stddef.h>

const char *vknmt_status_name(vknmt_status s);
/* Writes a formatted message into err (err_size bytes; NULL or 0: nothing):
 * the one way the project's functions hand a reason to their caller. */
void vknmt_errorf(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The band: 0, 100, 200, 300, 400 or 500. */
static inline int vknmt_status_band(vknmt_status s) { return ((int)s / 100) * 100; }

#endif
