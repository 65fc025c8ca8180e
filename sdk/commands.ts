// Commands a plugin adds to the `tapgate` CLI (`PluginDefinition.commands`): `tapgate
// NAME ARGS...` runs the command named NAME with ARGS. The CLI finds a command before it
// reads any configuration (the command parses its own `-c FILE`), so only the plugins
// its entry point hands it contribute commands: the built-ins. A plugin that only a
// configuration's `use:` names adds none. The CLI's own commands (run, check...) come first.

/** A `tapgate` command: `commands: { stats: { usage, describe, run } }` in a plugin's definition. */
export interface PluginCommand {
  /** Its arguments as `tapgate --help` shows them, e.g. `-c FILE [--watch]`. */
  usage?: string;
  /** One line for `tapgate --help`: what it does. */
  describe: string;
  /** Runs it with the arguments after its name; resolves with the exit code: 0 done, 1 failed, 2 a wrong command line. */
  run(args: string[], io: CommandIo): number | Promise<number>;
}

/** What a command is given besides its arguments. */
export interface CommandIo {
  readonly stdout: CommandOutput;
  readonly stderr: CommandOutput;
  /** The environment (`NO_COLOR`...). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * The stats listener a configuration file's `stats:` section names, where plugins
   * answer requests (`app.admin`), with the credentials the section gives (`token`,
   * `basic_auth`), or `token`. Throws, saying what to change, when the file has no usable
   * `stats.bind`.
   */
  statsListener(file: string, options?: { token?: string }): Promise<StatsListener>;
}

export interface CommandOutput {
  write(text: string): void;
  /** Whether it is a terminal (colours, redrawing). */
  readonly isTTY: boolean;
}

/** A gateway's stats listener, from the command's side. */
export interface StatsListener {
  /** Its base URL, without a path: `http://127.0.0.1:8404`. */
  readonly url: string;
  /** GETs `path` (with the credentials; 5 s at most). Throws, saying so, when the listener cannot be reached; any answer resolves. */
  get(path: string): Promise<Response>;
}
