// ESLint for the app's modules (cdn/src): browser and service-worker globals, ES modules.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["dist/", "node_modules/"] },
  js.configs.recommended,
  {
    files: ["src/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser, ...globals.serviceworker },
    },
    rules: {
      "no-unused-vars": ["error", { args: "after-used", ignoreRestSiblings: true }],
      "no-unused-expressions": ["error", { allowTernary: true, allowShortCircuit: true }],
      "no-restricted-properties": ["error",
        { property: "innerHTML", message: "build markup with html`` and show() (html.js): it escapes" },
        { property: "insertAdjacentHTML", message: "build markup with html`` and show() (html.js): it escapes" }],
      eqeqeq: ["error", "always"],
      "prefer-const": "error",
      "no-var": "error",
    },
  },
  {
    files: ["src/html.js"],
    rules: { "no-restricted-properties": "off" }, // the one place markup meets the DOM
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "module", globals: globals.node },
  },
];
