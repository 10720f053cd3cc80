/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LD_PRELOAD'ed into the dynamic nestbox-agent by crng-not-ready.sh: the
 * kernel's random generator as a guest restored from a snapshot taken soon
 * after boot has it, not ready yet. A getrandom() that may block blocks
 * (for an hour: the test's deadline comes long before); one with
 * GRND_NONBLOCK or GRND_INSECURE answers, as the kernel does.
 */
#define _GNU_SOURCE
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif

ssize_t
getrandom(void *buffer, size_t length, unsigned int flags)
{
	if ((flags & (GRND_NONBLOCK | GRND_INSECURE)) == 0)
		sleep(3600);
	return syscall(SYS_getrandom, buffer, length, flags);
}
