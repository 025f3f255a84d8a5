// `fraudscore serve` must not outlive whatever started it. npx (and some process managers) do not
// forward SIGTERM to the command they run, and a parent killed with SIGKILL sends nothing at all:
// the server would be orphaned, still holding its port. So the CLI also watches its parent.
//
// A process whose parent dies is re-parented (to init or a subreaper), so its ppid changes; an IPC
// channel (a parent that forked us) disconnects. Either one means the parent is gone.

/** How often the parent is checked, ms. Cheap: one getppid() call. */
const POLL_MS = 1000;

/**
 * [sync] Calls `onGone` once, with a reason, when the parent process goes away. Does nothing when
 * there is no real parent to watch (ppid 0 or 1: PID 1 in a container, or already orphaned).
 * @returns a function that stops watching. The timer never keeps the process alive by itself.
 */
export function watchParent(onGone: (reason: string) => void): () => void {
  const parent = process.ppid;
  if (parent <= 1) return () => {};
  let fired = false;
  const fire = (reason: string) => {
    if (fired) return;
    fired = true;
    stop();
    onGone(reason);
  };
  const timer = setInterval(() => {
    if (process.ppid !== parent) fire(`parent process ${parent} is gone`);
  }, POLL_MS);
  timer.unref();
  const onDisconnect = () => fire(`IPC channel to parent process ${parent} closed`);
  if (process.connected) process.once('disconnect', onDisconnect);
  function stop() {
    clearInterval(timer);
    process.off('disconnect', onDisconnect);
  }
  return stop;
}
