/*
 * wire_pb.h — the codec's own pieces, shared by its three files and by no
 * one else: wire.c (buffers, names, and the tensors, options and spaces
 * both directions carry), wire_request.c and wire_reply.c. The one header
 * besides the codec's files that sees the generated envd.pb-c.h.
 */
#ifndef WIRE_PB_H
#define WIRE_PB_H

#include "envd.pb-c.h"
#include "wire.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the wire format's raw blocks are little-endian; this codec assumes a little-endian host"
#endif

/* Encoding builds protobuf-c messages on the stack; these hold the parts. */
typedef struct space_pb {
    Envd__V1__Space space;
    Envd__V1__Discrete discrete;
    Envd__V1__Box box;
} space_pb_t;

typedef struct options_pb {
    Envd__V1__Option opt[OPTIONS_MAX];
    Envd__V1__Option *ptr[OPTIONS_MAX];
} options_pb_t;

ProtobufCAllocator wire__arena_allocator(arena_t *a);
int wire__pack(const ProtobufCMessage *m, wire_buf_t *out);
int wire__check_utf8(const char *s, const char *what, errbuf_t *e);
int wire__tensor_from_pb(const Envd__V1__Tensor *pb, wire_tensor_t *t, const char *what,
                         errbuf_t *e);
int wire__options_from_pb(arena_t *a, Envd__V1__Option **pb, size_t n, const option_t **out,
                          size_t *nout, errbuf_t *e);
void wire__space_from_pb(const Envd__V1__Space *pb, wire_space_t *s);
void wire__spec_from_pb(const Envd__V1__EnvSpec *pb, wire_spec_t *s);
Envd__V1__Space *wire__space_to_pb(const wire_space_t *s, space_pb_t *pb);
Envd__V1__EnvSpec *wire__spec_to_pb(const wire_spec_t *s, Envd__V1__EnvSpec *pb);
Envd__V1__Tensor *wire__tensor_to_pb(const wire_tensor_t *t, Envd__V1__Tensor *pb);
int wire__options_to_pb(const option_t *o, size_t n, options_pb_t *pb, Envd__V1__Option ***out,
                        size_t *nout);

#endif
