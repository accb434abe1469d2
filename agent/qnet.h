/*
 * qnet.h — the Q-network: a float32 multilayer perceptron with its
 * gradients and Adam state, in plain C.
 *
 * A net is `in -> hidden[0] -> ... -> hidden[nhidden-1] -> out`: every layer
 * is linear, every hidden layer is followed by ReLU, the output layer is
 * linear (one Q value per action). Parameters, gradients and Adam's two
 * moments are each ONE contiguous float block of qnet_nparams() floats with
 * the same layout, so a target sync is one memcpy, Adam is one loop and a
 * checkpoint is a header (qnet_shape_t, Adam's step) plus one write per block.
 *
 * Layout of each block, layer by layer (l = 0 .. nhidden):
 *     weight_l (nin_l, nout_l) row-major: weight_l[i * nout_l + o] carries
 *                                         input i into output o
 *     bias_l   (nout_l)
 * Note the weight is stored (in, out), the transpose of PyTorch's nn.Linear
 * (out, in): the forward pass then runs along contiguous rows of the weight,
 * which vectorizes without reordering any sum (see qnet.c).
 *
 * Two forward entries, neither allocates:
 *   - qnet_forward(): the training forward. B <= max_batch. Keeps every
 *     activation in internal buffers for the qnet_backward() that follows.
 *   - qnet_predict(): a forward-only pass for any B (acting on 1024 sessions,
 *     target values, Double DQN's argmax). It works through internal scratch
 *     in tiles of rows and does not touch the training activations, so it
 *     may run between qnet_forward() and qnet_backward().
 * Both compute each row with the same kernel and the same order of
 * operations, so a row's Q values are bit-identical whichever is used and
 * whatever B is. A net used only through qnet_predict() (a target net) can
 * be made with max_batch 1.
 *
 * A Double DQN train step, with no allocation anywhere:
 *     qnet_predict(target, next_obs, B, q_next);      // (B, out) bootstrap values
 *     qnet_predict(online, next_obs, B, q_next_on);   // (B, out) argmax for Double DQN
 *     const float *q = qnet_forward(online, obs, B);  // (B, out), kept for backward
 *     ... dout (B, out) = dL/dq, nonzero only at the actions taken
 *     qnet_zero_grad(online);
 *     qnet_backward(online, dout, B);
 *     qnet_clip_grad(online, max_norm);
 *     qnet_adam_step(online, lr, 0.9, 0.999, 1e-8);
 *     qnet_polyak(target, online, tau);  // or qnet_copy_params() every N steps
 *
 * The matmuls and Adam run in the best instruction-set variant the CPU has
 * (qnet_isa()); every variant gives the same bits.
 *
 * A net is not thread-safe: one thread uses it at a time (qnet_predict()
 * writes the net's scratch). Ownership: qnet_new()/qnet_destroy(); every
 * pointer returned by an accessor is borrowed from the net and valid until
 * it is destroyed.
 */
#ifndef QNET_H
#define QNET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rng.h"

#define QNET_MAX_HIDDEN 8

typedef struct qnet qnet_t;

/* The shape of a net, as a checkpoint header stores it. Entries of hidden[]
 * past nhidden are ignored by qnet_new_shape() and are 0 in qnet_shape(). */
typedef struct qnet_shape {
    int32_t in;                       /* observation size */
    int32_t out;                      /* number of actions */
    int32_t nhidden;                  /* 0 .. QNET_MAX_HIDDEN */
    int32_t hidden[QNET_MAX_HIDDEN];  /* width of each hidden layer */
} qnet_shape_t;

/* ------------------------------------------------------------ lifetime */

/* A net in -> hidden[0..nhidden) -> nout whose training forward takes up
 * to max_batch rows, in *out. Parameters start at zero: call qnet_init() or
 * load them. Gradients, moments and Adam's step start at zero. Returns 0,
 * ERR_INVALID_ARGUMENT if a size is < 1 (or nhidden is outside
 * 0..QNET_MAX_HIDDEN, or hidden is NULL with nhidden > 0), or ERR_NOMEM;
 * on failure *out is NULL and e says why. */
int qnet_new(int in, const int *hidden, int nhidden, int nout, int max_batch, qnet_t **out,
             errbuf_t *e);

/* The same for a shape (a checkpoint header's). */
int qnet_new_shape(const qnet_shape_t *shape, int max_batch, qnet_t **out, errbuf_t *e);

/* Frees *q and sets *q to NULL. Safe on NULL and on a NULL *q. */
void qnet_destroy(qnet_t **q);

/* PyTorch's nn.Linear default initialization: every weight and bias of a
 * layer with fan_in inputs from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn
 * from rng in block order. Resets gradients, moments and Adam's step. */
void qnet_init(qnet_t *q, rng_t *rng);

/* ------------------------------------------------------------ forward */

/* Training forward of x (B, in), 1 <= B <= max_batch. Returns the Q values
 * (B, out), borrowed until the next qnet_forward(). The input is copied, so
 * x may change before qnet_backward(). */
const float *qnet_forward(qnet_t *q, const float *x, int B);

/* Forward-only pass of x (B, in) into out (B, out), any B >= 0. Leaves the
 * training activations untouched. */
void qnet_predict(qnet_t *q, const float *x, int B, float *out);

/* ----------------------------------------------------------- backward */

/* Sets every gradient to zero. */
void qnet_zero_grad(qnet_t *q);

/* Adds to the gradients dL/dparams for dout = dL/dQ (B, out), where B and
 * the activations are those of the last qnet_forward(). Gradients
 * accumulate across calls until qnet_zero_grad(). */
void qnet_backward(qnet_t *q, const float *dout, int B);

/* The L2 norm of all gradients together (summed in double). */
float qnet_grad_norm(const qnet_t *q);

/* As torch.nn.utils.clip_grad_norm_: if the norm exceeds max_norm, scales
 * every gradient by max_norm / (norm + 1e-6). Returns the norm before
 * clipping. */
float qnet_clip_grad(qnet_t *q, float max_norm);

/* ---------------------------------------------------------- optimizer */

/* One step of Adam as torch.optim.Adam (no weight decay, no amsgrad),
 * on the gradients as they are:
 *   t += 1; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   p -= lr / (1-b1^t) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
 * The hyperparameters are doubles, as Python's floats are in torch: the
 * scalars (1-b1, lr/(1-b1^t), ...) are computed in double and rounded to
 * float once, and the per-element float ops follow torch's single-tensor
 * Adam op for op (lerp, addcmul, addcdiv). Close to torch, not promised
 * bit-exact. */
void qnet_adam_step(qnet_t *q, double lr, double beta1, double beta2, double eps);

/* Adam's step counter t (the number of steps taken), for checkpoints. */
int64_t qnet_adam_t(const qnet_t *q);
void qnet_set_adam_t(qnet_t *q, int64_t t);

/* ------------------------------------------------------ target network */

/* dst params = src params. Both nets must have the same shape (asserted). */
void qnet_copy_params(qnet_t *dst, const qnet_t *src);

/* dst params = tau * src + (1 - tau) * dst, same shape (asserted). */
void qnet_polyak(qnet_t *dst, const qnet_t *src, float tau);

/* Nonzero if a and b have the same shape. */
int qnet_same_shape(const qnet_t *a, const qnet_t *b);

/* ---------------------------------------------------------- accessors */

/* The shape of q, written to *shape. */
void qnet_shape(const qnet_t *q, qnet_shape_t *shape);

/* A shape as text for messages, "in-hidden...-out" (e.g. "4-64-64-2"),
 * cut to fit len. */
void qnet_shape_text(const qnet_shape_t *s, char *buf, size_t len);

int qnet_out(const qnet_t *q);

/* Number of linear layers: nhidden + 1. */
int qnet_nlayers(const qnet_t *q);

/* Floats in each of the four blocks below. */
size_t qnet_nparams(const qnet_t *q);

/* The four blocks, each (qnet_nparams) floats in the layout above. */
float *qnet_params(qnet_t *q);
float *qnet_grads(qnet_t *q);
float *qnet_adam_m(qnet_t *q);
float *qnet_adam_v(qnet_t *q);

/* Layer l's weight (nin, nout) and bias (nout) inside the parameter block,
 * and its sizes (either pointer may be NULL). 0 <= l < qnet_nlayers(). */
float *qnet_weight(qnet_t *q, int l);
float *qnet_bias(qnet_t *q, int l);
void qnet_layer_dims(const qnet_t *q, int l, int *nin, int *nout);

/* Offset of layer l's weight and bias in any of the four blocks. */
size_t qnet_weight_offset(const qnet_t *q, int l);
size_t qnet_bias_offset(const qnet_t *q, int l);

/* ------------------------------------------------------ kernel variant */

/* The instruction-set variant of the matmul kernel q runs: "avx512", "avx2"
 * or "base". qnet_new() picks the best one the CPU supports. Every variant
 * computes the same bits, so this only changes speed. */
const char *qnet_isa(const qnet_t *q);

/* Switches q to the named variant (for tests and benchmarks). Returns 0,
 * ERR_INVALID_ARGUMENT for an unknown name, ERR_FAILED_PRECONDITION if the
 * CPU lacks it. */
int qnet_set_isa(qnet_t *q, const char *isa);

#endif
