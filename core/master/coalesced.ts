// A job that runs once at a time, where what is asked while it runs is done once more
// after, for everyone who asked meanwhile: a burst of reload signals makes one more
// reload, not one each. The job reads its input (the config file) when it starts, so the
// run that covers a request sees whatever was there when the request was made, or later.

export class Coalesced<T> {
  #running: Promise<unknown> | undefined;
  #next: Promise<T> | undefined;

  constructor(private readonly job: () => Promise<T>) {}

  /** The run that covers a request made now: a new one, or the one after the current run, shared. */
  request(): Promise<T> {
    if (this.#next) return this.#next;
    if (!this.#running) return this.#run(this.job());
    const go = () => {
      this.#next = undefined;
      return this.#run(this.job());
    };
    return (this.#next = this.#running.then(go, go));
  }

  /** Counts `work` (the master starting) as a run: requests made until it settles are covered by the run after it. */
  hold<U>(work: Promise<U>): Promise<U> {
    this.#run(work);
    return work;
  }

  #run<U>(work: Promise<U>): Promise<U> {
    this.#running = work;
    const done = () => {
      if (this.#running === work) this.#running = undefined;
    };
    work.then(done, done);
    return work;
  }
}
