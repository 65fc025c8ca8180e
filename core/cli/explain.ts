// `tapgate explain -c FILE --request 'GET http://host/path' [--header K:V]... [--src IP]`:
// which route a request takes, why, and the plugin chain that runs.
import { parseArgs } from 'node:util';
import { checkConfig } from '../config/check.ts';
import { explain, ExplainError, renderExplanation } from '../explain.ts';
import { createLogger } from '../log.ts';
import type { AnyPluginDefinition } from '../loader.ts';
import { renderProblems } from './check.ts';

export async function explainCommand(argv: string[], builtins: ReadonlyMap<string, AnyPluginDefinition>): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      request: { type: 'string', short: 'r' },
      header: { type: 'string', short: 'H', multiple: true, default: [] },
      src: { type: 'string' },
      frontend: { type: 'string' },
      sni: { type: 'string' },
      alpn: { type: 'string' },
      format: { type: 'string', default: 'text' },
    },
  });
  if (!values.config || !values.request) {
    process.stderr.write("tapgate explain: -c FILE and --request 'METHOD URL' are required, e.g. --request 'GET http://api.example.com/v1/x'\n");
    return 2;
  }
  const [method, url, extra] = values.request.trim().split(/\s+/);
  if (!method || !url || extra !== undefined || !/^[A-Za-z]+$/.test(method)) {
    process.stderr.write(`tapgate explain: --request expects 'METHOD URL', e.g. 'GET http://api.example.com/v1/x', found '${values.request}'\n`);
    return 2;
  }
  const headers: Record<string, string> = {};
  for (const h of values.header) {
    const colon = h.indexOf(':');
    if (colon <= 0) {
      process.stderr.write(`tapgate explain: --header expects 'Name: value', found '${h}'\n`);
      return 2;
    }
    headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
  }
  const result = await checkConfig(values.config, { builtins, logger: createLogger('silent'), keep: true });
  if (!result.ok || !result.generation) {
    process.stderr.write(renderProblems(result.problems, result.source.file, result.ok));
    return 1;
  }
  try {
    const e = explain(result.generation, { method, url, headers, src: values.src, frontend: values.frontend, sni: values.sni, alpn: values.alpn });
    process.stdout.write(values.format === 'json' ? JSON.stringify(e, null, 2) + '\n' : renderExplanation(e));
    return 0;
  } catch (err) {
    if (!(err instanceof ExplainError)) throw err;
    process.stderr.write(`tapgate explain: ${err.message}\n`);
    return 2;
  } finally {
    await result.generation.dispose();
  }
}
