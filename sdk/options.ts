// Option schemas several plugins need, so each says the same thing the same way.
import { z } from 'zod';

const compiles = (source: string): boolean => {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
};

/** A regular expression's source, refused by `check` when it does not compile. */
export const RegexSource = z.string().min(1).refine(compiles, 'expected a valid regular expression');
