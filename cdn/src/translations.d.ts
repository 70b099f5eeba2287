// The shape of translations.js, which cdn/build.py writes from server/pwa/translations.py.
declare const translations: {
  readonly screens: Record<string, Record<string, string>>;
  readonly statuses: Record<string, Record<string, string>>;
  readonly notice: Record<string, Record<string, string>>;
};
export default translations;
