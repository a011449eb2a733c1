// Durations counted on fixed log-spaced bucket edges: recording one is an index computation and an
// increment into a preallocated array; percentiles are read from the counts when someone looks.

/** Buckets per doubling: a percentile read from them is within 2^(1/4), about 19%, of the true value. */
export const BUCKETS_PER_OCTAVE = 4;
/** The first bucket's upper edge is 2^MIN_EXPONENT ms (1/8 ms); anything shorter counts there. */
const MIN_EXPONENT = -3;
/** The last bucket's upper edge is 2^MAX_EXPONENT ms (about 17 minutes); anything longer counts there. */
const MAX_EXPONENT = 20;
/** How many buckets a histogram has. */
export const HISTOGRAM_BUCKETS = (MAX_EXPONENT - MIN_EXPONENT) * BUCKETS_PER_OCTAVE + 1;

/** The bucket a duration falls in: bucket i holds durations in (upperEdge(i-1), upperEdge(i)]. */
export function bucketOf(ms: number): number {
  if (!(ms > 0)) return 0;
  const index = Math.ceil((Math.log2(ms) - MIN_EXPONENT) * BUCKETS_PER_OCTAVE);
  return index < 0 ? 0 : index >= HISTOGRAM_BUCKETS ? HISTOGRAM_BUCKETS - 1 : index;
}

/** A bucket's upper edge in ms. */
export function upperEdge(bucket: number): number {
  return 2 ** (MIN_EXPONENT + bucket / BUCKETS_PER_OCTAVE);
}

/**
 * The `q` quantile (0-1) of the counts in `counts[offset .. offset + HISTOGRAM_BUCKETS)`, as the
 * upper edge of the bucket it falls in (so never below the true value, and within one bucket of
 * it); undefined when the counts are all zero.
 */
export function quantileOf(counts: ArrayLike<number>, offset: number, total: number, q: number): number | undefined {
  if (total === 0) return undefined;
  // The rank of the value sought, 1-based: the smallest bucket whose running count reaches it holds it.
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let bucket = 0; bucket < HISTOGRAM_BUCKETS; bucket++) {
    seen += counts[offset + bucket]!;
    if (seen >= rank) return upperEdge(bucket);
  }
  return upperEdge(HISTOGRAM_BUCKETS - 1);
}
