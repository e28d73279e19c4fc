// Attention for new conversations: a short WebAudio beep (no sound files) and, when the
// operator allowed it, a desktop notification. Audio starts only after a user gesture.

let audio = null;

/** Creates the audio context on the first click or key press (browsers require a gesture). */
export function armSound() {
  const arm = () => {
    if (!audio && (window.AudioContext || window.webkitAudioContext)) {
      try {
        audio = new (window.AudioContext || window.webkitAudioContext)();
      } catch {
        audio = null;
      }
    }
    if (audio && audio.state === "suspended") audio.resume().catch(() => {});
  };
  document.addEventListener("pointerdown", arm, { capture: true });
  document.addEventListener("keydown", arm, { capture: true });
}

export function beep() {
  if (!audio || audio.state !== "running") return;
  const now = audio.currentTime;
  const gain = audio.createGain();
  gain.gain.setValueAtTime(0.0001, now);
  gain.gain.exponentialRampToValueAtTime(0.2, now + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.35);
  gain.connect(audio.destination);
  for (const [freq, start] of [[880, 0], [1175, 0.12]]) {
    const osc = audio.createOscillator();
    osc.type = "sine";
    osc.frequency.setValueAtTime(freq, now + start);
    osc.connect(gain);
    osc.start(now + start);
    osc.stop(now + start + 0.2);
  }
}

export function notificationsSupported() {
  return "Notification" in window;
}

export function notificationsAllowed() {
  return notificationsSupported() && Notification.permission === "granted";
}

export async function askNotifications() {
  if (!notificationsSupported()) return false;
  try {
    return (await Notification.requestPermission()) === "granted";
  } catch {
    return false;
  }
}

/** Beeps and shows a desktop notification (title and body are plain text). */
export function announce(title, body, onClick) {
  beep();
  if (!notificationsAllowed() || document.hasFocus()) return;
  try {
    const n = new Notification(title, { body, tag: "switchboard", icon: "/ui/favicon.svg" });
    n.addEventListener("click", () => {
      window.focus();
      if (onClick) onClick();
      n.close();
    });
  } catch {
    // Some browsers allow notifications only from a service worker; the beep is enough.
  }
}
