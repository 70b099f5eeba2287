"""The privacy notice a cleaner reads once (Thailand's PDPA): what location and photos the app
collects, why and for how long, and the record that they read it."""
