"""What the channel itself says to patients (the assistant's answers come from the responder)."""

WELCOME = (
    "Hello, this is Medibot, an automated health assistant (not a clinician). You can ask me general "
    "health questions here; your conversation is kept in your Medibot account, like on the web.\n\n"
    "Already have a Medibot account? Send LINK and enter the code I send you on the Medibot web page "
    "(WhatsApp, under your conversations) to keep everything in one account.\n\n"
    "Send STOP at any time to stop receiving messages."
)
RECEIVED = (
    "We received your message. Our system is busy right now; you will get the answer here as soon as "
    "it is ready."
)
TEXT_ONLY = (
    "Thank you. I can only read text messages on WhatsApp, so I could not look at this one. Please "
    "describe your question in words."
)
STOPPED = "You will not receive any more messages from Medibot. Send START to talk to Medibot again."
STARTED = "Welcome back to Medibot. Ask me a health question at any time; send STOP to stop."
LINK_CODE = (
    "Your Medibot link code is {code}. Enter it on the Medibot web page within {minutes} minutes to "
    "link this WhatsApp number to your account. If you did not ask for it, ignore this message."
)
NOT_ANSWERED = "Sorry, I could not answer right now. Your message was saved; please try again in a moment."

STOP_WORDS = frozenset({"stop", "unsubscribe", "stop all"})
START_WORDS = frozenset({"start", "subscribe", "unstop"})
LINK_WORDS = frozenset({"link"})
