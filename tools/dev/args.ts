/** A tool's `usage(message)`: prints the message and the usage line, and exits 2 (bad arguments). */
export const usageExit =
  (usageLine: string) =>
  (message: string): never => {
    console.log(`${message}\n${usageLine}`);
    process.exit(2);
  };

/**
 * Whole-number command-line options, read the same way by every dev tool: `whole(name, value,
 * min)` returns the number, or calls the tool's `usage` (which exits 2) naming the option and the
 * bad value.
 */
export const wholeOption =
  (usage: (message: string) => never) =>
  (name: string, v: string, min = 1): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n) || n < min) {
      usage(
        min === 1
          ? `--${name} wants a positive whole number, got "${v}"`
          : `--${name} wants a whole number ≥ ${min}, got "${v}"`,
      );
    }
    return n;
  };
