/*
 * Starting the program's threads, written once.  Every thread is
 * detached (nobody joins it: it ends on its own and frees what it holds)
 * and gets a small stack, since its buffers live on the heap.
 */
#include <pthread.h>

#include "ptychat.h"

/* 128 KiB of stack where the default is 8 MiB of address space. */
#define THREAD_STACK_SIZE	(128 * 1024)

/* Starts fn(arg) in a detached thread.  Returns 0 or an errno value. */
int
thread_start(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t tid;
	int err;

	if ((err = pthread_attr_init(&attr)) != 0)
		return err;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);
	err = pthread_create(&tid, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return err;
}
