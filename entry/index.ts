// The package's main export (`import { startGateway } from 'tapgate'`): the SDK that
// plugin and config authors use (also `tapgate/sdk`), and a way to run a gateway from code.
export * from '../sdk/index.ts';
export { startGateway, type StartGatewayOptions } from './gateway.ts';
export { ConfigError, type RunningGateway } from '../core/serve.ts';
export type { Problem } from '../core/config/problems.ts';
