from __future__ import annotations

from wtforms import HiddenField, SelectMultipleField, StringField, SubmitField, URLField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from lms.web.forms import Form, OneTimeField, labelled_choices
from lms.webhooks.models import EVENT_LABELS


class EventsField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EndpointForm(Form):
    form_token = OneTimeField()  # the same form sent twice (a reload, a double click) adds one endpoint
    url = URLField("Endpoint URL", validators=[DataRequired(), Length(max=500)],
                   description="https:// only; each event is POSTed there as JSON, signed with the endpoint's secret.")
    description = StringField("Description", validators=[Optional(), Length(max=200)])
    events = EventsField("Events", choices=labelled_choices({e.value: label for e, label in EVENT_LABELS.items()}),
                         validators=[DataRequired(message="Choose at least one event.")])
    submit = SubmitField("Add endpoint")


class ActionForm(Form):
    submit = SubmitField("Go")


class RotateForm(Form):
    """New secret: ``confirm`` says the admin read what it does (the confirmation's button
    sends "yes"); without it nothing is changed and the confirmation is shown instead."""

    confirm = HiddenField()
    submit = SubmitField("Yes, make a new secret")

    @property
    def confirmed(self) -> bool:
        return self.confirm.data == "yes"
