import { InvalidArgumentError } from 'commander';

/**
 * A commander argument parser accepting whole numbers in `[min, max]`. Commander reports its
 * rejection on one line (`option '--seats <n>' argument 'x' is invalid. …`), exit code 2.
 */
export function integerArgument(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    // Number('') is 0 and Number('1e3') is 1000: only plain digits are accepted.
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('Expected a whole number.');
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `Expected a whole number of at least ${min}.`
          : `Expected ${min} to ${max}.`,
      );
    }
    return n;
  };
}
