/* core/list.h - the runtime's one intrusive doubly-linked list.
 *
 * Every queue of waiters, every context's children and watchers, every
 * list the runtime keeps of things it does not own, is a ringo__list_t of
 * ringo__link_t nodes embedded in the listed records. One list type means
 * one set of invariants to get right, and O(1) removal everywhere.
 *
 * Invariants
 *   - A zeroed ringo__list_t is an empty list: the sync types work at their
 *     zero value, so a list needs no init call.
 *   - A node that is on no list has next == prev == NULL and is not the
 *     first node of any list; ringo__list_remove leaves it so. Membership is
 *     therefore not readable from the node alone when it is a list's only
 *     element: callers that need "is it still queued?" keep their own flag
 *     or list pointer (see sync/waitq.h's waiter) and read it under the lock.
 *   - FIFO order: push_back and pop_front make a queue; push_front lets a
 *     woken-then-requeued waiter keep its place (Go's semacquire LIFO mode).
 *
 * Locking is the owner's: whoever embeds the list says which lock guards
 * its links. Nothing here blocks or allocates.
 */
#ifndef RINGO_LIST_H
#define RINGO_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ringo__link {
    struct ringo__link *next, *prev;
} ringo__link_t;

typedef struct ringo__list {
    ringo__link_t *first, *last;
} ringo__list_t;

/* The record that embeds `link` as its member `field`. */
#define ringo__container_of(ptr, type, field) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, field)))

/* The record holding list l's first node, or NULL when l is empty. */
#define ringo__list_first_entry(l, type, field) \
    ((l)->first ? ringo__container_of((l)->first, type, field) : (type *)NULL)

/* Iterates over l's nodes; `n` may be removed inside the loop (the next
 * node is read first). Not for lists changed by others meanwhile. */
#define ringo__list_foreach_safe(l, n, nx) \
    for (ringo__link_t *n = (l)->first, *nx = n ? n->next : NULL; n; \
         n = nx, nx = n ? n->next : NULL)

static inline bool ringo__list_empty(const ringo__list_t *l)
{
    return l->first == NULL;
}

static inline void ringo__list_push_back(ringo__list_t *l, ringo__link_t *n)
{
    n->next = NULL;
    n->prev = l->last;
    if (l->last)
        l->last->next = n;
    else
        l->first = n;
    l->last = n;
}

static inline void ringo__list_push_front(ringo__list_t *l, ringo__link_t *n)
{
    n->prev = NULL;
    n->next = l->first;
    if (l->first)
        l->first->prev = n;
    else
        l->last = n;
    l->first = n;
}

/* Removes n, which must be on l. */
static inline void ringo__list_remove(ringo__list_t *l, ringo__link_t *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->first = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->last = n->prev;
    n->next = n->prev = NULL;
}

/* Removes and returns l's first node, or NULL. */
static inline ringo__link_t *ringo__list_pop_front(ringo__list_t *l)
{
    ringo__link_t *n = l->first;
    if (n)
        ringo__list_remove(l, n);
    return n;
}

/* Moves every node of `from` to the end of `to`, leaving `from` empty. */
static inline void ringo__list_splice_back(ringo__list_t *to, ringo__list_t *from)
{
    if (!from->first)
        return;
    if (to->last) {
        to->last->next = from->first;
        from->first->prev = to->last;
    } else {
        to->first = from->first;
    }
    to->last = from->last;
    from->first = from->last = NULL;
}

#endif
