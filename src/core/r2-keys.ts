/**
 * Where the gateway keeps things in R2 (one bucket, two prefixes; an R2 lifecycle rule may expire
 * both).
 */
export const tapeKey = (sha256: string) => `tapes/${sha256}.tape`;
export const resultKey = (jobId: string) => `results/${jobId}.json`;
/** The claim the settlement service reported for a job's proof, kept beside its result. */
export const claimKey = (jobId: string) => `claims/${jobId}.json`;
