#ifndef MEDSYNC_CCURL_SHIM_H
#define MEDSYNC_CCURL_SHIM_H
#include <curl/curl.h>

// Swift cannot call the variadic curl_easy_setopt/curl_easy_getinfo; these wrappers fix the
// argument type for each kind of option. No logic here.
static inline CURLcode medsync_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode medsync_curl_setopt_ptr(CURL *h, CURLoption o, const void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode medsync_curl_setopt_str(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode medsync_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode medsync_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
typedef size_t (*medsync_curl_write_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode medsync_curl_setopt_write(CURL *h, CURLoption o, medsync_curl_write_cb v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode medsync_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
#endif
