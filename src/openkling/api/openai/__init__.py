"""OpenAI's Videos API (`/v1/videos`): a second front door onto the same tasks (docs/api.md).

`protocol` holds the wire shapes, `mapping` the rules from OpenAI's model/size/seconds to
Kling's, `serving` the operations over the task service, `router` the routes, `errors`
OpenAI's error shape, `media` the thumbnail and spritesheet, `webhooks` the signed events.
"""
