// The built-in plugins, handed to the kernel through the same registry a user plugin
// goes through. The kernel imports none of them by name.
import type { PluginDefinition } from '../sdk/index.ts';
import roundrobin from './lb/roundrobin.ts';
import stickyCookie from './persist/sticky-cookie.ts';

export const builtinPlugins: readonly PluginDefinition<any>[] = [roundrobin, stickyCookie];

export const builtins: ReadonlyMap<string, PluginDefinition<any>> = new Map(builtinPlugins.map((p) => [p.name, p]));
