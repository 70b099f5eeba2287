// The shape of vocabulary.js, which cdn/build.py writes from server/pwa/vocabulary.py (for_app).
declare const vocabulary: {
  readonly events: string[];
  readonly closing: string;
  readonly statuses: string[];
  readonly board: string[];
  readonly steps: Record<string, string>;
  readonly onHold: string;
  readonly arrival: { from: string[]; to: string };
  readonly reportable: string[];
  readonly reasons: string[];
  readonly assignable: string[];
  readonly finished: string[];
  readonly reopenable: string[];
  readonly largestCrew: number;
  readonly priorities: string[];
  readonly caches: { shell: string; data: string; shareInbox: string };
  readonly family: string;
  readonly locks: { refresh: string; outbox: string; photos: string; receipts: string };
  readonly syncTag: string;
  readonly modules: string;
  readonly storage: { vault: string; user: string };
  readonly messages: { sent: string; pushed: string; refreshed: string; open: string };
  readonly families: Record<string, "field" | "office">;
  readonly pages: { setPassword: string };
  readonly passwordLength: { min: number; max: number };
  readonly problems: { wrongPassword: string; passwordLink: string };
};
export default vocabulary;
