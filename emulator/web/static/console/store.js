// The live journal: what GET /_emulator/stream (Server-Sent Events) says, kept by id.
// A (re)connection first sends everything, so the maps are cleared on "hello" and refilled.

export const store = {
  events: new Map(), // eventId -> the platform's event JSON
  notifications: new Map(), // notificationId -> notification with its attempts
  instances: new Map(), // instanceId -> instance summary with its subscription state
  subscriptions: new Map(), // callback URL -> delivery state of that destination
  clock: null,
  clockSeenAt: 0, // performance.now() when the clock was last told, to tick a real clock
  connected: false,
  synced: false,
};

const listeners = new Set();

// fn(kind, data) runs after each message; views use it to schedule a re-render.
export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function changed(kind, data) {
  for (const fn of [...listeners]) fn(kind, data);
}

function clear() {
  store.events.clear();
  store.notifications.clear();
  store.instances.clear();
  store.subscriptions.clear();
  store.synced = false;
}

const HANDLERS = {
  hello: () => clear(),
  reset: () => clear(),
  synced: () => {
    store.synced = true;
  },
  event: (event) => store.events.set(event.id, event),
  notification: (n) => store.notifications.set(n.notificationId, n),
  instance: (instance) => {
    if (instance.deleted) store.instances.delete(instance.id);
    else store.instances.set(instance.id, instance);
  },
  subscription: (info) => store.subscriptions.set(info.url, info),
  clock: (clock) => setClock(clock),
  attempt: () => {},
  account: () => {},
};

export function setClock(clock) {
  store.clock = clock;
  store.clockSeenAt = performance.now();
}

// Emulator time now: a manual clock stands still, a real one moves with wall time times its scale.
export function clockNow() {
  const clock = store.clock;
  if (!clock) return null;
  if (clock.mode !== "real") return clock.now;
  return clock.now + ((performance.now() - store.clockSeenAt) / 1000) * clock.scale;
}

export function connect() {
  const source = new EventSource("/_emulator/stream");
  source.addEventListener("open", () => {
    store.connected = true;
    changed("connection", true);
  });
  source.addEventListener("error", () => {
    // EventSource reconnects by itself; the first messages after it resynchronise everything.
    store.connected = false;
    changed("connection", false);
  });
  for (const [kind, handle] of Object.entries(HANDLERS)) {
    source.addEventListener(kind, (message) => {
      const data = JSON.parse(message.data);
      handle(data);
      changed(kind, data);
    });
  }
  return source;
}

// Events newest first, each with its notifications (newest first) as the journal has them.
export function eventsNewestFirst() {
  return [...store.events.values()].sort((a, b) => b.id - a.id);
}

export function notificationsOf(event) {
  const ids = event.notifiedData?.notificationIds || [];
  return ids
    .map((id) => store.notifications.get(id))
    .filter(Boolean)
    .sort((a, b) => b.notificationId - a.notificationId);
}

export function instancesInOrder() {
  return [...store.instances.values()].sort((a, b) => a.id - b.id);
}

// Calls fn once shortly after a burst of messages, however many arrive meanwhile. A timer, not an
// animation frame: a tab in the background still catches up (browsers pause frames there).
export function coalesce(fn, delayMs = 20) {
  let timer = null;
  return () => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, delayMs);
  };
}
