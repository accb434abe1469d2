/*
 * zmsg.c — one multipart message into a fixed array of frames (see zmsg.h).
 */
#include "zmsg.h"

#include <stdbool.h>

int zmsg_recv(void *sock, zmq_msg_t *frames, int max, int *dropped)
{
    int n = 0, extra = 0;
    bool more = true;
    while (more) {
        /* Keep the first max frames; count and discard the rest. */
        zmq_msg_t tmp, *m = n < max ? &frames[n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) < 0) {
            /* Nothing waiting; or, not expected since ZeroMQ delivers
             * whole messages, a message cut short: keep what came. */
            zmq_msg_close(m);
            break;
        }
        more = zmq_msg_more(m);
        if (m == &tmp) {
            zmq_msg_close(&tmp);
            extra++;
        } else {
            n++;
        }
    }
    if (dropped)
        *dropped = extra;
    return n;
}

void zmsg_close(zmq_msg_t *frames, int n)
{
    for (int i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
}
