// `tapgate reload|stop|status`: clients of the running master's control socket.
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readConfig } from '../config/source.ts';
import { GatewayConfig } from '../../sdk/config.ts';
import { controlRequest } from '../master/control.ts';
import type { ReloadReply, StatusReply } from '../master/messages.ts';
import { renderProblems } from './check.ts';

const options = {
  config: { type: 'string', short: 'c', default: 'tapgate.yaml' },
  socket: { type: 'string' },
  plan: { type: 'boolean', default: false },
  hard: { type: 'boolean', default: false },
  format: { type: 'string', default: 'text' },
} as const;

/** The control socket named by --socket, or by the config's `control.socket`. */
async function socketPath(values: { config: string; socket?: string }): Promise<string> {
  if (values.socket) return resolve(values.socket);
  const source = await readConfig(values.config);
  const raw = (source.data as { control?: unknown } | undefined)?.control;
  const control = GatewayConfig.shape.control.safeParse(raw);
  const relative = control.success ? control.data.socket : '.tapgate/control.sock';
  return resolve(dirname(resolve(values.config)), relative);
}

/** How the workers take (or would take) the reload: in place, or new processes and why. */
function workersLine(reply: ReloadReply): string {
  if (!reply.workers) return '';
  return reply.workers.inPlace ? 'workers: reloaded in place\n' : `workers: new processes (${reply.workers.why})\n`;
}

export async function control(command: 'reload' | 'stop' | 'status', argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options });
  let path: string;
  try {
    path = await socketPath(values);
    if (command === 'reload') {
      const reply = await controlRequest<ReloadReply>(path, { cmd: 'reload', plan: values.plan });
      if (values.format === 'json') process.stdout.write(JSON.stringify(reply, null, 2) + '\n');
      else if (!reply.ok) process.stderr.write(reply.problems ? renderProblems(reply.problems, values.config, false) : `tapgate reload: ${reply.error}\n`);
      else if (values.plan) process.stdout.write((reply.plan!.length ? reply.plan!.join('\n') + '\n' : 'no changes\n') + workersLine(reply));
      else
        process.stdout.write(
          `reloaded: generation ${reply.generation} serving, ${reply.draining} old worker(s) draining\n${reply.plan!.map((l) => `  ${l}\n`).join('')}${workersLine(reply)}`,
        );
      return reply.ok ? 0 : 1;
    }
    if (command === 'stop') {
      const reply = await controlRequest<{ ok: boolean; workers: number }>(path, { cmd: 'stop', hard: values.hard });
      process.stdout.write(`${values.hard ? 'stopped' : 'stopping'}: ${reply.workers} worker(s)${values.hard ? ' killed' : ' draining'}\n`);
      return 0;
    }
    const s = await controlRequest<StatusReply>(path, { cmd: 'status' });
    if (values.format === 'json') process.stdout.write(JSON.stringify(s, null, 2) + '\n');
    else {
      process.stdout.write(`master ${s.pid}, generation ${s.generation}, up ${s.uptime_s}s, config ${s.config}\n`);
      for (const w of s.workers) process.stdout.write(`  worker ${w.pid}  generation ${w.generation}  ${w.state} since ${w.since}\n`);
      const { total, last } = s.worker_deaths;
      if (last)
        process.stdout.write(
          `  ${total} worker death${total === 1 ? '' : 's'}, the last: worker ${last.pid} (generation ${last.generation}, ${last.state}), ${last.reason}, at ${last.at}\n`,
        );
    }
    return 0;
  } catch (err) {
    process.stderr.write(`tapgate ${command}: ${(err as Error).message}\n`);
    return 1;
  }
}
