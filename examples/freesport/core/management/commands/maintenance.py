"""manage.py maintenance on|off|status"""
import json

from django.core.management.base import BaseCommand

from core import maintenance


class Command(BaseCommand):
    help = 'Turn maintenance mode on or off, or show it (every /api/ request answers 503 while on).'

    def add_arguments(self, parser):
        parser.add_argument('action', choices=['on', 'off', 'status'])
        parser.add_argument('--reason', default='', help='shown in the flag file (with "on")')

    def handle(self, *args, **options):
        action = options['action']
        if action == 'on':
            data = maintenance.enable(options['reason'])
            self.stdout.write('maintenance on since %s (%s)' % (data['since'], maintenance.flag_path()))
        elif action == 'off':
            was_on = maintenance.disable()
            self.stdout.write('maintenance off' + ('' if was_on else ' (it was not on)'))
        else:
            flag = maintenance.status()
            state = {'maintenance': flag is not None, 'flag': maintenance.flag_path()}
            if flag:
                state.update(flag)
            self.stdout.write(json.dumps(state))
