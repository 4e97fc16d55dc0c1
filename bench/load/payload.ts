/** The message text every outbound benchmark sends, LoftBox and baselines alike (about 1.8 kB). */
export const BODY_TEXT = 'The quick brown fox jumps over the lazy dog. '.repeat(40);
