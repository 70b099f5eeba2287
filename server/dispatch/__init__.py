"""The office's writes: assign, re-prioritise, team updates."""
