// What plugins bring to a generation besides taps: balancing algorithms, route matchers
// and protocol detectors, by name (sdk/extensions.ts gives their one shape). Filled while
// the generation loads its plugins; read while it builds backends, compiles routes and,
// for detectors, inspects connections.
import type { AnyExtension, Balancer, BalancerExtension, BalancerInit, Detector, MatcherExtension } from '../../sdk/index.ts';
import { didYouMean, validate, type KeyPath } from '../config/problems.ts';

const kinds = { balancer: 'balancing algorithm', matcher: 'matcher', detector: 'protocol detector' } as const;

type Report = (path: KeyPath, message: string, hint?: string, at?: 'key' | 'value') => void;

export class ExtensionRegistry {
  readonly balancers = new Map<string, BalancerExtension>();
  readonly matchers = new Map<string, MatcherExtension>();
  /** Created once, in the order they came: inspection asks them in that order. */
  readonly detectors = new Map<string, Detector>();
  /** The plugin that brought each, by kind and name, to say who took a name first. */
  readonly #broughtBy = new Map<string, string>();

  /** Adds what `plugin` brings; throws, saying why, when the shape is wrong or its kind already has that name. */
  add(extension: AnyExtension, plugin: string): void {
    const { kind, name } = extension ?? {};
    if (!Object.hasOwn(kinds, kind))
      throw new Error(`an extension of unknown kind ${JSON.stringify(kind)} (expected one made by defineBalancer, defineMatcher or defineDetector)`);
    if (typeof name !== 'string' || !name) throw new Error(`a ${kinds[kind]} without a name`);
    if (typeof extension.create !== 'function' || typeof extension.options?.safeParse !== 'function') {
      throw new Error(`${kinds[kind]} "${name}" needs a zod options schema and a create function (defineBalancer, defineMatcher and defineDetector give them)`);
    }
    const key = `${kind} ${name}`;
    const first = this.#broughtBy.get(key);
    if (first !== undefined) throw new Error(`${kinds[kind]} "${name}" is already brought by plugin "${first}"`);
    if (extension.kind === 'balancer') this.balancers.set(name, extension);
    else if (extension.kind === 'matcher') this.matchers.set(name, extension);
    else this.detectors.set(name, extension.create({}, undefined));
    this.#broughtBy.set(key, plugin);
  }

  /**
   * A backend's balancer: `balance: name(argument)` looked up, the argument and
   * `balance_options` checked by the algorithm's schemas, then created. Problems are
   * reported below `path` (the backend's): at `balance`, or at the option's key path.
   */
  createBalancer(
    written: { balance: string; balance_options: Readonly<Record<string, unknown>> },
    init: Omit<BalancerInit, 'argument'>,
    path: KeyPath,
    problem: Report,
  ): Balancer | undefined {
    // `hdr(x-user)`: the algorithm `hdr` with the argument `x-user`.
    const [, name = written.balance, argument] = /^([^()]+?)(?:\((.*)\))?$/.exec(written.balance.trim()) ?? [];
    const at = [...path, 'balance'];
    const algorithm = this.balancers.get(name);
    if (!algorithm) {
      const known = [...this.balancers.keys()];
      problem(at, `unknown balancing algorithm "${name}"`, didYouMean(name, known) ?? `registered: ${known.join(', ') || 'none'}`);
      return undefined;
    }
    let ok = true;
    const fail: Report = (...args) => {
      ok = false;
      problem(...args);
    };
    const given = argument?.trim() || undefined;
    let checkedArgument: string | undefined;
    if (!algorithm.argument) {
      if (given !== undefined) fail(at, `algorithm "${name}" takes no argument, found ${written.balance.trim()}`, `write balance: ${name}`);
    } else {
      const checked = validate(algorithm.argument, given);
      if (checked.success) checkedArgument = checked.data;
      else if (given === undefined) fail(at, `algorithm "${name}" needs an argument: ${algorithm.argument.description ?? `balance: ${name}(...)`}`);
      else for (const r of checked.reports) fail(at, `algorithm "${name}" argument: ${r.message}`, r.hint);
    }
    const options = validate(algorithm.options, written.balance_options);
    if (!options.success) for (const r of options.reports) fail([...path, 'balance_options', ...r.path], `algorithm "${name}": ${r.message}`, r.hint, r.at);
    if (!ok || !options.success) return undefined;
    try {
      return algorithm.create(options.data, { ...init, argument: checkedArgument });
    } catch (err) {
      problem(at, `algorithm "${name}" failed to start: ${(err as Error).message}`);
      return undefined;
    }
  }
}
