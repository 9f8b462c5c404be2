"""SIP messages to leg events (sans-IO core): the tolerant parser and the dialog tracker."""
