/*
 * pps/common.h - what every libpps header needs.
 *
 * You never include this file yourself; <pps/pps.h> or any part's header
 * brings it in.  It defines PPS_API, the mark on every exported function,
 * and the C-linkage wrappers.  Only symbols named pps_* are exported from
 * the shared library; everything else is hidden.
 */
#ifndef PPS_COMMON_H
#define PPS_COMMON_H

#include <stddef.h>

#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(PPS_BUILDING_LIBRARY) && !defined(PPS_STATIC)
#define PPS_API __declspec(dllexport)
#elif !defined(PPS_STATIC)
#define PPS_API __declspec(dllimport)
#else
#define PPS_API
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define PPS_API __attribute__((visibility("default")))
#else
#define PPS_API
#endif

#ifdef __cplusplus
#define PPS_BEGIN_DECLS extern "C" {
#define PPS_END_DECLS   }
#else
#define PPS_BEGIN_DECLS
#define PPS_END_DECLS
#endif

#endif /* PPS_COMMON_H */
