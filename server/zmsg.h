/*
 * zmsg.h — receiving one whole multipart ZeroMQ message into a fixed array
 * of frames, without blocking.
 *
 * envd's two sockets on the loop, the ROUTER (server.c) and the ZAP
 * handler (zap.c), each read messages of a known shape from peers that
 * may send any shape: the first frames are kept, the rest are received
 * and dropped (and counted), so that the next receive starts at the next
 * message.
 */
#ifndef ZMSG_H
#define ZMSG_H

#include <zmq.h>

/* Receives one message from sock (ZMQ_DONTWAIT): its first max frames into
 * frames[] (initialised here; the caller closes them with zmsg_close) and
 * the number of frames past those, dropped, into *dropped (may be NULL).
 * Returns the number of frames kept: 0 when no message is waiting. */
int zmsg_recv(void *sock, zmq_msg_t *frames, int max, int *dropped);

/* Closes frames[0..n). */
void zmsg_close(zmq_msg_t *frames, int n);

#endif
