/*
 * siphash.h — SipHash-2-4 (Aumasson and Bernstein, 2012), a keyed hash.
 *
 * envd mixes identifiers chosen by its peers (retry client ids, ZeroMQ
 * routing ids, CURVE keys) under a secret key drawn at start: a peer can
 * then neither aim many values at one index slot nor find another value
 * that maps to someone else's (see service.c, retry.c). SipHash-2-4 is a
 * pseudorandom function built for exactly this, and costs tens of
 * nanoseconds for the few dozen bytes hashed here.
 */
#ifndef SIPHASH_H
#define SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

/* The 64-bit SipHash-2-4 of len bytes under key, as the reference
 * implementation's output read little-endian. */
uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len);

#endif
