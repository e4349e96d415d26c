// A small event emitter shared by the SDK classes.
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */
    this._handlers = new Map();
  }

  /** Adds a handler for an event; returns a function that removes it. */
  on(event, fn) {
    let set = this._handlers.get(event);
    if (!set) {
      set = new Set();
      this._handlers.set(event, set);
    }
    set.add(fn);
    return () => this.off(event, fn);
  }

  /** Adds a handler called at most once. */
  once(event, fn) {
    const off = this.on(event, (...args) => {
      off();
      fn(...args);
    });
    return off;
  }

  off(event, fn) {
    this._handlers.get(event)?.delete(fn);
  }

  emit(event, ...args) {
    const set = this._handlers.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (err) {
        // A failing application handler must not break the SDK.
        console.error(`rtcloud: "${event}" handler failed`, err);
      }
    }
  }
}
