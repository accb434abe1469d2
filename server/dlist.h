/*
 * dlist.h — an intrusive doubly linked list with a head and a tail, for
 * the orders envd keeps without allocating: the session table's LRU list
 * (session.c), the retry cache's age lists (retry.c), the HTTP listener's
 * open connections (http.c).
 *
 * The item embeds a dlist_node_t and the list points at the nodes;
 * DLIST_ITEM turns a node (or NULL) back into its item. Append and unlink
 * are O(1); an unlinked node's pointers are NULL. Header-only: each
 * function is a handful of stores, called on every step of a session.
 */
#ifndef DLIST_H
#define DLIST_H

#include <stddef.h>

typedef struct dlist_node {
    struct dlist_node *prev, *next; /* prev: towards the head */
} dlist_node_t;

typedef struct dlist {
    dlist_node_t *head, *tail;
} dlist_t;

static inline void dlist_append(dlist_t *l, dlist_node_t *n)
{
    n->prev = l->tail;
    n->next = NULL;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

static inline void dlist_unlink(dlist_t *l, dlist_node_t *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

static inline void *dlist__item(dlist_node_t *n, size_t offset)
{
    return n ? (char *)n - offset : NULL;
}

/* The item of type whose member is node; NULL for NULL. */
#define DLIST_ITEM(node, type, member) ((type *)dlist__item((node), offsetof(type, member)))

#endif
