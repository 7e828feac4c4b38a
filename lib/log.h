/* SPDX-License-Identifier: Apache-2.0 */
/* Leveled logging to stderr; libbpf's own messages arrive one level lower. */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

extern enum log_level log_level;

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * The one line every failed sluice command prints on stderr ("sluice: <what>: <why>"), without
 * a level. Returns -EINVAL so a handler can return it.
 */
int log_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Route libbpf's print callback through log_msg, demoted one level. */
void log_setup_libbpf(void);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
