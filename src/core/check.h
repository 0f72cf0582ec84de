/* check.h -- telling a qdm bug from a user error (QuEST's rule). User
 * input is validated at the public boundary and reported with a status; a
 * failure past that point is a broken invariant of qdm itself. */
#ifndef QDM_CORE_CHECK_H
#define QDM_CORE_CHECK_H
#include "qdm/core.h"

/* Prints "qdm internal error at FILE:LINE: WHAT (message). Please report
 * this." to stderr and aborts. */
void qdm__bug(const char *file, int line, const char *what) __attribute__((noreturn));

/* An internal call whose arguments the caller has already validated: a
 * non-OK status from it is a bug (checked in every build, not only with
 * assert()s on: the cost is one comparison). */
#define QDM__OK(call)                                       \
  do {                                                      \
    if ((call) != QDM_OK) qdm__bug(__FILE__, __LINE__, #call); \
  } while (0)
#endif
