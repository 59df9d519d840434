/* sampler.c: greedy, top-k, top-p and temperature sampling with a seeded xoshiro256** RNG.
 *
 * The order follows llama.cpp's default chain: top-k on the logits, top-p on the softmax of the
 * remaining logits, then temperature, then a draw. temperature <= 0 is greedy (first maximum).
 */
#include <math.h>
#include <string.h>

#include "llm_internal.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void pcc_sampler_init(pcc_sampler *sp, const pcc_llm_params *p)
{
    uint64_t x = p->seed;
    for (int i = 0; i < 4; i++)
        sp->s[i] = splitmix64(&x);
    sp->temperature = p->temperature;
    sp->top_p = p->top_p;
    sp->top_k = p->top_k;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t pcc_sampler_next_u64(pcc_sampler *sp)
{
    uint64_t *s = sp->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* uniform in [0, 1) with 24 random bits */
static float next_float(pcc_sampler *sp) { return (float)(pcc_sampler_next_u64(sp) >> 40) * 0x1.0p-24f; }

static size_t argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* Binary max-heap of indices ordered by key[idx] (ties: smaller index first). */
static int before(const float *key, uint32_t a, uint32_t b)
{
    return key[a] > key[b] || (key[a] == key[b] && a < b);
}

static void sift_down(uint32_t *h, size_t n, size_t i, const float *key)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < n && before(key, h[l], h[top]))
            top = l;
        if (r < n && before(key, h[r], h[top]))
            top = r;
        if (top == i)
            return;
        uint32_t t = h[i];
        h[i] = h[top];
        h[top] = t;
        i = top;
    }
}

/* Min-heap variant for keeping the k largest. */
static void sift_down_min(uint32_t *h, size_t n, size_t i, const float *key)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, low = i;
        if (l < n && before(key, h[low], h[l]))
            low = l;
        if (r < n && before(key, h[low], h[r]))
            low = r;
        if (low == i)
            return;
        uint32_t t = h[i];
        h[i] = h[low];
        h[low] = t;
        i = low;
    }
}

int32_t pcc_sampler_sample(pcc_sampler *sp, float *logits, size_t n, float *probs, uint32_t *idx)
{
    if (n == 0)
        return -1;
    if (!(sp->temperature > 0.0f))
        return (int32_t)argmax(logits, n);

    /* candidates: cand[0..nc) in descending logit order when sorted, else all tokens */
    size_t nc = n;
    uint32_t *cand = idx;
    int sorted = 0;
    if (sp->top_k > 0 && sp->top_k < n) {
        /* keep the k largest with a min-heap of size k, then sort it descending */
        size_t k = sp->top_k;
        for (size_t i = 0; i < k; i++)
            cand[i] = (uint32_t)i;
        for (size_t i = k / 2; i-- > 0;)
            sift_down_min(cand, k, i, logits);
        for (size_t i = k; i < n; i++) {
            if (before(logits, (uint32_t)i, cand[0])) {
                cand[0] = (uint32_t)i;
                sift_down_min(cand, k, 0, logits);
            }
        }
        /* heap sort ascending-min-heap into descending order */
        for (size_t end = k; end > 1; end--) {
            uint32_t t = cand[0];
            cand[0] = cand[end - 1];
            cand[end - 1] = t;
            sift_down_min(cand, end - 1, 0, logits);
        }
        nc = k;
        sorted = 1;
    }
    /* softmax over the candidates (temperature 1) for top-p */
    float max = -INFINITY;
    for (size_t i = 0; i < nc; i++) {
        float v = logits[sorted ? cand[i] : i];
        max = v > max ? v : max;
    }
    if (sp->top_p > 0.0f && sp->top_p < 1.0f) {
        double sum = 0.0;
        for (size_t i = 0; i < nc; i++) {
            size_t t = sorted ? cand[i] : i;
            probs[t] = expf(logits[t] - max);
            sum += probs[t];
        }
        const double want = (double)sp->top_p * sum;
        if (!sorted) {
            /* pop the largest probabilities until their mass reaches top_p; each popped token
             * moves to the tail of the heap array, so the kept ones end up in heap[n-kept..n) */
            uint32_t *heap = idx;
            for (size_t i = 0; i < n; i++)
                heap[i] = (uint32_t)i;
            for (size_t i = n / 2; i-- > 0;)
                sift_down(heap, n, i, probs);
            size_t hn = n, kept = 0;
            double cum = 0.0;
            while (hn > 0) {
                uint32_t top = heap[0];
                heap[0] = heap[hn - 1];
                heap[hn - 1] = top;
                hn--;
                sift_down(heap, hn, 0, probs);
                kept++;
                cum += probs[top];
                if (cum >= want)
                    break;
            }
            nc = kept;
            sorted = 1;
            cand = heap + (n - kept);
        } else {
            double cum = 0.0;
            size_t kept = 0;
            while (kept < nc) {
                cum += probs[cand[kept]];
                kept++;
                if (cum >= want)
                    break;
            }
            nc = kept;
        }
    }
    /* temperature and the draw */
    double sum = 0.0;
    const float inv_t = 1.0f / sp->temperature;
    for (size_t i = 0; i < nc; i++) {
        size_t t = sorted ? cand[i] : i;
        probs[t] = expf((logits[t] - max) * inv_t);
        sum += probs[t];
    }
    const double r = (double)next_float(sp) * sum;
    double cum = 0.0;
    size_t last = sorted ? cand[nc - 1] : nc - 1;
    for (size_t i = 0; i < nc; i++) {
        size_t t = sorted ? cand[i] : i;
        cum += probs[t];
        if (r < cum)
            return (int32_t)t;
    }
    return (int32_t)last;
}
