// `node --import tapgate/register`: TypeScript for a process that is not the CLI, such as
// `node --test` running a plugin's test (tapgate's SDK, the plugin and the test are all
// TypeScript), through the tsx this installation runs on; no other loader to install.
import 'tsx';
