# macOS preferences (`system.defaults`) shared by every workstation.
# `null` means "not managed by nix-darwin": those keys stay null on purpose so the
# migration does not start overriding a preference the user sets by hand.
{
  flake.modules.darwin.system-defaults = {
    system.startup.chime = false;
    system.defaults = {
      ".GlobalPreferences" = {
        "com.apple.mouse.scaling" = null;
        "com.apple.sound.beep.sound" = null;
      };
      CustomUserPreferences = {
        NSGlobalDomain = {
          AppleSpacesSwitchOnActivate = true;
          NSCloseAlwaysConfirmsChanges = false;
        };
        "com.apple.ActivityMonitor" = {
          UpdatePeriod = 1;
        };
        "com.apple.Music" = {
          userWantsPlaybackNotifications = false;
        };
        "com.apple.TextEdit" = {
          RichText = false;
          SmartQuotes = false;
        };
        "com.apple.menuextra.clock" = {
          DateFormat = "EEE d MMM HH:mm:ss";
          FlashDateSeparators = false;
        };
        "com.apple.spaces" = {
          spans-displays = false;
        };
      };
      LaunchServices = {
        LSQuarantine = true;
      };
      NSGlobalDomain = {
        AppleEnableMouseSwipeNavigateWithScrolls = true;
        AppleEnableSwipeNavigateWithScrolls = true;
        AppleFontSmoothing = null;
        AppleICUForce24HourTime = false;
        AppleInterfaceStyle = "Dark";
        AppleInterfaceStyleSwitchesAutomatically = false;
        AppleKeyboardUIMode = null;
        AppleMeasurementUnits = "Inches";
        AppleMetricUnits = 0;
        ApplePressAndHoldEnabled = false;
        AppleScrollerPagingBehavior = true;
        AppleShowAllExtensions = true;
        AppleShowAllFiles = false;
        AppleShowScrollBars = "WhenScrolling";
        AppleSpacesSwitchOnActivate = true;
        AppleTemperatureUnit = "Fahrenheit";
        AppleWindowTabbingMode = "always";
        InitialKeyRepeat = 15;
        KeyRepeat = 2;
        NSAutomaticCapitalizationEnabled = false;
        NSAutomaticDashSubstitutionEnabled = false;
        NSAutomaticPeriodSubstitutionEnabled = false;
        NSAutomaticQuoteSubstitutionEnabled = false;
        NSAutomaticSpellingCorrectionEnabled = false;
        NSAutomaticWindowAnimationsEnabled = true;
        NSDisableAutomaticTermination = null;
        NSDocumentSaveNewDocumentsToCloud = false;
        NSNavPanelExpandedStateForSaveMode = true;
        NSNavPanelExpandedStateForSaveMode2 = true;
        NSScrollAnimationEnabled = true;
        NSTableViewDefaultSizeMode = 2;
        NSTextShowsControlCharacters = false;
        NSUseAnimatedFocusRing = true;
        NSWindowResizeTime = 0.02;
        PMPrintingExpandedStateForPrint = true;
        PMPrintingExpandedStateForPrint2 = true;
        _HIHideMenuBar = true;
        "com.apple.keyboard.fnState" = false;
        "com.apple.mouse.tapBehavior" = 1;
        "com.apple.sound.beep.feedback" = 0;
        "com.apple.sound.beep.volume" = 0.0;
        "com.apple.springing.delay" = 1.0;
        "com.apple.springing.enabled" = null;
        "com.apple.swipescrolldirection" = false;
        "com.apple.trackpad.enableSecondaryClick" = true;
        "com.apple.trackpad.forceClick" = false;
        "com.apple.trackpad.scaling" = null;
        "com.apple.trackpad.trackpadCornerClickBehavior" = null;
      };
      SoftwareUpdate = {
        AutomaticallyInstallMacOSUpdates = false;
      };
      WindowManager = {
        AppWindowGroupingBehavior = true;
        AutoHide = false;
        EnableStandardClickToShowDesktop = false;
        EnableTiledWindowMargins = false;
        GloballyEnabled = false;
        HideDesktop = false;
        StageManagerHideWidgets = false;
        StandardHideDesktopIcons = false;
        StandardHideWidgets = false;
      };
      dock = {
        appswitcher-all-displays = true;
        autohide = true;
        autohide-delay = 0.0;
        autohide-time-modifier = 0.15;
        dashboard-in-overlay = false;
        enable-spring-load-actions-on-all-items = false;
        expose-animation-duration = 0.1;
        expose-group-apps = true;
        launchanim = true;
        mineffect = "scale";
        minimize-to-application = false;
        mouse-over-hilite-stack = true;
        mru-spaces = false;
        orientation = "bottom";
        persistent-apps = [
          "/Applications/NeoHtop.app"
          "/Applications/Ghostty.app"
          "/Applications/Fork.app"
          "/Applications/Zed.app"
          "/Applications/Helium.app"
          "/Applications/Visual Studio Code.app"
          "/Applications/Zen.app"
          "/Applications/Raindrop.io.app"
          "/Applications/Skim.app"
          "/Applications/calibre.app"
          "/Applications/Zotero.app"
          "/Applications/Cyberduck.app"
          "/Applications/TablePlus.app"
          "/Applications/DBeaver.app"
          "/Applications/Codelayer-Nightly.app"
          "/Applications/opcode.app"
          "/Applications/Claude.app"
          "/Applications/Logseq.app"
          "/Applications/Bitwarden.app"
          "/Applications/OrbStack.app"
          "/Applications/OBS.app"
          "/Applications/Discord.app"
          "/Applications/zoom.us.app"
          "/Applications/WhatsApp.app"
          "/Applications/Slack.app"
          "/System/Applications/System Settings.app"
        ];
        show-process-indicators = true;
        show-recents = true;
        showhidden = true;
        static-only = false;
        tilesize = 48;
        wvous-bl-corner = 1;
        wvous-br-corner = 5;
        wvous-tl-corner = 1;
        wvous-tr-corner = 1;
      };
      finder = {
        AppleShowAllExtensions = true;
        AppleShowAllFiles = false;
        CreateDesktop = true;
        FXDefaultSearchScope = "SCcf";
        FXEnableExtensionChangeWarning = false;
        FXPreferredViewStyle = "Nlsv";
        QuitMenuItem = false;
        ShowPathbar = true;
        ShowStatusBar = false;
        _FXShowPosixPathInTitle = false;
        _FXSortFoldersFirst = false;
      };
      loginwindow = {
        DisableConsoleAccess = false;
        GuestEnabled = false;
        LoginwindowText = null;
        PowerOffDisabledWhileLoggedIn = false;
        RestartDisabled = false;
        RestartDisabledWhileLoggedIn = false;
        SHOWFULLNAME = false;
        ShutDownDisabled = false;
        ShutDownDisabledWhileLoggedIn = false;
        SleepDisabled = false;
        autoLoginUser = null;
      };
      magicmouse = {
        MouseButtonMode = "OneButton";
      };
      screencapture = {
        disable-shadow = true;
        location = "~/Downloads";
        show-thumbnail = true;
        target = "file";
        type = "png";
      };
      smb = {
        NetBIOSName = null;
        ServerDescription = null;
      };
      spaces = {
        spans-displays = false;
      };
      trackpad = {
        ActuationStrength = 1;
        Clicking = true;
        Dragging = true;
        FirstClickThreshold = 1;
        SecondClickThreshold = 2;
        TrackpadRightClick = true;
        TrackpadThreeFingerDrag = false;
        TrackpadThreeFingerTapGesture = 0;
      };
    };
  };
}
