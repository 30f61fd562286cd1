"""The faces: the `kepol` command line and the Gradio chat. They call `assistant.api.Assistant`
and nothing below it; nothing else imports them."""
