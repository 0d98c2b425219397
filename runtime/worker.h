/*
 * worker.h — the worker thread's start routine (worker.c).
 */
#ifndef TWILL_WORKER_H
#define TWILL_WORKER_H

/* pthread start routine; arg is the twill__worker to become. */
void *twill__worker_main(void *arg);

/* Any thread: make sure fork() is watched (once per process) and return
   the current fork generation, for a pool being created. */
unsigned twill__fork_watch(void);

#endif /* TWILL_WORKER_H */
