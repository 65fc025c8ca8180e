// The built-in plugins, handed to the kernel through the same registry a user plugin
// goes through. The kernel imports none of them by name.
import type { PluginDefinition } from '../sdk/index.ts';
import roundrobin from './lb/roundrobin.ts';
import stickyCookie from './persist/sticky-cookie.ts';
import source from './lb/source.ts';
import uri from './lb/uri.ts';
import hdr from './lb/hdr.ts';
import cookie from './lb/cookie.ts';
import staticRr from './lb/static-rr.ts';
import leastconn from './lb/leastconn.ts';
import first from './lb/first.ts';
import random from './lb/random.ts';
import ewma from './lb/ewma.ts';
import cache from './cache/index.ts';
import rewrite from './rewrite/index.ts';
import redirect from './redirect/index.ts';
import respond from './respond/index.ts';
import contentSwitch from './switch/index.ts';
import protocols from './protocols/index.ts';
import jwt, { jwtClaims } from './jwt/index.ts';
import stats from './stats/index.ts';
import apiKey from './api-key/index.ts';
import basicAuth from './basic-auth/index.ts';
import authRequest from './auth-request/index.ts';
import rateLimit from './rate-limit/index.ts';

export const builtinPlugins: readonly PluginDefinition<any>[] = [
  roundrobin,
  stickyCookie,
  source,
  uri,
  hdr,
  cookie,
  staticRr,
  leastconn,
  first,
  random,
  ewma,
  cache,
  rewrite,
  redirect,
  respond,
  protocols,
  contentSwitch,
  jwt,
  jwtClaims,
  stats,
  apiKey,
  basicAuth,
  authRequest,
  rateLimit,
];

export const builtins: ReadonlyMap<string, PluginDefinition<any>> = new Map(builtinPlugins.map((p) => [p.name, p]));
