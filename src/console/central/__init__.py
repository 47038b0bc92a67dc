"""The central station's bedside side (docs/central.md): the topic scheme (``topics``), the JSON
payloads (``payloads``) and the sink that publishes them to the clinic's MQTT broker
(``publisher``). Qt-free."""
